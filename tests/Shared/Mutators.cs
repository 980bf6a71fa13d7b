using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RetrievalGuard.Tests;

/// <summary>
/// Byte-level mutations: bit flips, overwrites with boundary bytes, truncation, deletion, insertion, duplication.
/// </summary>
public static class ByteMutator
{
    private static readonly byte[] Interesting = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, 0xC0, 0xE2, (byte)'"', (byte)'\\',
        (byte)'{', (byte)'}', (byte)'[', (byte)']', (byte)',', (byte)':', (byte)'-', (byte)'0', (byte)'9', (byte)'e',
        (byte)'.', (byte)' ', (byte)'\n'];

    /// <summary>
    /// One random byte-level mutation of <paramref name="seed"/>; truncations prefer <paramref name="boundaries"/>.
    /// </summary>
    public static FuzzInput Mutate(Random r, byte[] seed, IReadOnlyList<int>? boundaries = null,
        string prefix = "bytes")
    {
        var b = (byte[])seed.Clone();
        int Pick() => b.Length == 0 ? 0 : r.Next(b.Length);
        int Boundary() => boundaries is { Count: > 0 } && r.Next(3) > 0
            ? Math.Clamp(boundaries[r.Next(boundaries.Count)] + r.Next(-1, 2), 0, b.Length)
            : r.Next(b.Length + 1);
        switch (r.Next(8))
        {
            case 0:
            {
                int flips = 1 + r.Next(r.Next(2) == 0 ? 2 : 16);
                var at = new List<int>();
                for (int i = 0; i < flips && b.Length > 0; i++)
                {
                    int p = Pick();
                    b[p] ^= (byte)(1 << r.Next(8));
                    at.Add(p);
                }
                return new($"{prefix}: flip bits at {string.Join(",", at)}", b);
            }
            case 1:
            {
                int n = 1 + r.Next(8);
                var at = new List<int>();
                for (int i = 0; i < n && b.Length > 0; i++)
                {
                    int p = Pick();
                    b[p] = r.Next(2) == 0 ? Interesting[r.Next(Interesting.Length)] : (byte)r.Next(256);
                    at.Add(p);
                }
                return new($"{prefix}: overwrite bytes at {string.Join(",", at)}", b);
            }
            case 2:
            case 3:
            {
                int at = Boundary();
                return new($"{prefix}: truncate to {at} of {b.Length} bytes", b[..at]);
            }
            case 4:
            {
                int from = Pick(), length = Math.Min(b.Length - from, 1 + r.Next(r.Next(2) == 0 ? 4 : 256));
                return new($"{prefix}: delete {length} bytes at {from}", [.. b[..from], .. b[(from + length)..]]);
            }
            case 5:
            {
                int at = Boundary();
                var junk = new byte[1 + r.Next(16)];
                for (int i = 0; i < junk.Length; i++)
                    junk[i] = r.Next(2) == 0 ? Interesting[r.Next(Interesting.Length)] : (byte)r.Next(256);
                return new($"{prefix}: insert {junk.Length} bytes at {at}", [.. b[..at], .. junk, .. b[at..]]);
            }
            case 6:
            {
                int from = Pick(), length = Math.Min(b.Length - from, 1 + r.Next(64)), to = Boundary();
                var chunk = b[from..(from + length)];
                return new($"{prefix}: copy {length} bytes from {from} to {to}", [.. b[..to], .. chunk, .. b[to..]]);
            }
            default:
            {
                // Two far-apart edits: damage that a single check might miss.
                var first = Mutate(r, b, boundaries, prefix);
                var second = Mutate(r, first.Bytes, boundaries, prefix);
                return new($"{first.Mutation}; then {second.Mutation}", second.Bytes);
            }
        }
    }

    /// <summary>
    /// Offsets of JSON's structural characters (and the end), where truncation cuts a value or container short.
    /// </summary>
    public static int[] JsonBoundaries(byte[] json) =>
        [.. Enumerable.Range(0, json.Length).Where(i => json[i] is (byte)'{' or (byte)'}' or (byte)'[' or (byte)']'
            or (byte)',' or (byte)':' or (byte)'"'), json.Length];
}

/// <summary>
/// Structure-aware JSON mutations: a node is picked (a container at random, then one of its members, so that small
/// objects are hit as often as a 30,000-entry vocabulary) and replaced by a boundary value, deleted, duplicated,
/// retyped, nudged or swapped with another node; extra keys are added. Up to a few edits per input, then sometimes a
/// byte-level one on the text.
/// </summary>
public sealed class JsonMutator
{
    private static readonly string[] Literals =
    [
        "null", "true", "false", "0", "-0", "1", "-1", "2", "3", "7", "255", "256", "65535", "2147483647", "2147483648",
        "-2147483648", "-2147483649", "4294967296", "9007199254740993", "9223372036854775807", "-9223372036854775808",
        "18446744073709551615", "99999999999999999999999", "1e308", "-1e308", "1e999", "-1e999", "1e-320", "0.5", "1.5",
        "-0.5", "1e3", "3.0", "\"\"", "\"a\"", "\"1\"", "\"-1\"", "\"NaN\"", "\"Infinity\"", "\"-Infinity\"",
        "\"null\"", "\"true\"", "\"\\u0000\"", "\"\\ud800\"", "[]", "[0]", "[-1]", "[1, 2, 3]", "[null]", "[[]]",
        "[\"a\", \"b\"]", "{}", "{\"a\": 1}", "{\"type\": null}", "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]",
    ];

    private readonly JsonNode _seed;
    private readonly List<object[]> _containers = []; // paths (keys and indices) of the seed's objects and arrays
    private readonly long[] _cumulativeMembers; // running member counts of _containers, to pick a member uniformly
    private readonly string[] _keys;
    private readonly string[] _strings;

    public JsonMutator(string json, string name)
    {
        Name = name;
        _seed = JsonNode.Parse(json) ?? throw new ArgumentException("The seed is JSON null.", nameof(json));
        var keys = new HashSet<string>(StringComparer.Ordinal);
        var strings = new HashSet<string>(StringComparer.Ordinal);
        void Walk(JsonNode? node, object[] path)
        {
            switch (node)
            {
                case JsonObject o:
                    _containers.Add(path);
                    foreach (var (key, child) in o)
                    {
                        if (keys.Count < 2000) keys.Add(key);
                        Walk(child, [.. path, key]);
                    }
                    break;
                case JsonArray a:
                    _containers.Add(path);
                    for (int i = 0; i < a.Count; i++) Walk(a[i], [.. path, i]);
                    break;
                case JsonValue v when v.GetValueKind() == JsonValueKind.String && strings.Count < 2000:
                    strings.Add(v.GetValue<string>());
                    break;
            }
        }
        Walk(_seed, []);
        long total = 0;
        _cumulativeMembers = [.. _containers.Select(path => total += Math.Max(1,
            Follow(_seed, path) switch { JsonObject o => o.Count, JsonArray a => a.Count, _ => 1 }))];
        _keys = [.. keys];
        _strings = [.. strings];
        SeedText = _seed.ToJsonString();
    }

    public string Name { get; }
    public string SeedText { get; }

    /// <summary>
    /// One mutated document: 1–3 structural edits, then (one time in five) a byte-level edit of the text.
    /// </summary>
    public FuzzInput Mutate(Random r)
    {
        var root = _seed.DeepClone();
        var done = new List<string>();
        int edits = 1 + (r.Next(3) == 0 ? r.Next(3) : 0);
        for (int i = 0; i < edits; i++) done.Add(Edit(r, root));
        string text = Write(root);
        var bytes = Encoding.UTF8.GetBytes(text);
        string mutation = $"{Name}: {string.Join("; ", done)}";
        if (r.Next(5) == 0)
        {
            var raw = ByteMutator.Mutate(r, bytes, ByteMutator.JsonBoundaries(bytes), "text");
            return new($"{mutation}; {raw.Mutation}", raw.Bytes);
        }
        return new(mutation, bytes);
    }

    /// <summary>A JSON literal as a node; a lone surrogate escape, which JsonNode can read but not write, as a marker
    /// that <see cref="Write"/> turns back into the escape.</summary>
    public static JsonNode? Literal(string json) =>
        json == LoneSurrogate ? JsonValue.Create(LoneSurrogateMarker) : JsonNode.Parse(json);

    /// <summary>The node's text, with lone-surrogate markers written as the escape.</summary>
    public static string Write(JsonNode? node) =>
        (node?.ToJsonString() ?? "null").Replace(LoneSurrogateMarker, LoneSurrogate[1..^1], StringComparison.Ordinal);

    private const string LoneSurrogate = "\"\\ud800\"";
    private const string LoneSurrogateMarker = "@@lone-surrogate@@";

    public static string RandomLiteral(Random r) => Literals[r.Next(Literals.Length)];

    private string Edit(Random r, JsonNode root)
    {
        // The container picked in the seed, found at the same place in the clone (an earlier edit may have moved it).
        // Half the time a container uniformly (small objects matter), half the time the container of a uniformly
        // picked member (big arrays matter too).
        var path = _containers[r.Next(2) == 0 ? r.Next(_containers.Count) : MemberContainer(r)];
        var container = Follow(root, path);
        if (container is null) return "(skipped: the container moved)";
        string where = Describe(path);
        switch (container)
        {
            case JsonObject o when o.Count == 0 || r.Next(8) == 0:
            {
                string key = r.Next(3) == 0 ? "x" + r.Next(100) : _keys[r.Next(_keys.Length)];
                string literal = RandomLiteral(r);
                o[key] = Literal(literal);
                return $"{where}['{key}'] = {literal}";
            }
            case JsonObject o:
            {
                var (key, child) = o.ElementAt(r.Next(o.Count));
                string desc = $"{where}['{key}']";
                if (r.Next(6) == 0)
                {
                    o.Remove(key);
                    return $"delete {desc}";
                }
                if (r.Next(10) == 0)
                {
                    // Renamed: a required field goes missing and an unknown one appears.
                    o.Remove(key);
                    string renamed = r.Next(2) == 0 ? key.ToUpperInvariant() : key + "_";
                    o[renamed] = child;
                    return $"rename {desc} to '{renamed}'";
                }
                var (value, what) = Replacement(r, root, child);
                o[key] = value;
                return $"{desc} = {what}";
            }
            case JsonArray a when a.Count == 0 || r.Next(8) == 0:
            {
                string literal = RandomLiteral(r);
                a.Insert(a.Count == 0 ? 0 : r.Next(a.Count + 1), Literal(literal));
                return $"insert {literal} into {where}";
            }
            case JsonArray a:
            {
                int i = r.Next(a.Count);
                switch (r.Next(8))
                {
                    case 0:
                        a.RemoveAt(i);
                        return $"delete {where}[{i}]";
                    case 1:
                        a.Insert(i, a[i]?.DeepClone());
                        return $"duplicate {where}[{i}]";
                    case 2 when a.Count > 1:
                    {
                        int j = r.Next(a.Count);
                        var (x, y) = (a[i]?.DeepClone(), a[j]?.DeepClone());
                        a[i] = y;
                        a[j] = x;
                        return $"swap {where}[{i}] and [{j}]";
                    }
                    default:
                    {
                        var (value, what) = Replacement(r, root, a[i]);
                        a[i] = value;
                        return $"{where}[{i}] = {what}";
                    }
                }
            }
            default:
                return "(skipped)";
        }
    }

    private (JsonNode? Value, string What) Replacement(Random r, JsonNode root, JsonNode? current)
    {
        switch (r.Next(6))
        {
            case 0 when current is JsonValue v && v.GetValueKind() == JsonValueKind.Number
                && v.TryGetValue(out double x) && double.IsFinite(x):
            {
                string[] options = ["+1", "-1", "neg", "x2", "x1000", "+0.5", "0"];
                string op = options[r.Next(options.Length)];
                double y = op switch
                {
                    "+1" => x + 1, "-1" => x - 1, "neg" => -x, "x2" => x * 2, "x1000" => x * 1000,
                    "+0.5" => x + 0.5, _ => 0
                };
                JsonNode value = !double.IsFinite(y)
                    ? Literal(y > 0 ? "1e999" : "-1e999")! // JsonValue cannot write infinity
                    : y == Math.Floor(y) && Math.Abs(y) < 9e15 ? JsonValue.Create((long)y) : JsonValue.Create(y);
                return (value, $"{x} {op} → {y}");
            }
            case 1 when current is JsonValue v && v.GetValueKind() == JsonValueKind.String:
            {
                string s = v.GetValue<string>();
                string[] options = ["empty", "cut", "append", "upper", "other", "space"];
                string op = options[r.Next(options.Length)];
                string t = op switch
                {
                    "empty" => "",
                    "cut" => s.Length > 1 ? s[..r.Next(s.Length)] : "",
                    "append" => s + (char)r.Next(32, 0x3000),
                    "upper" => s.ToUpperInvariant(),
                    "space" => " " + s,
                    _ => _strings.Length > 0 ? _strings[r.Next(_strings.Length)] : "",
                };
                return (JsonValue.Create(t), $"'{Short(s)}' {op} → '{Short(t)}'");
            }
            case 2 when current is not null:
            {
                // Retyped: a number as a string, a value wrapped in a list or an object.
                return r.Next(3) switch
                {
                    0 => (JsonValue.Create(current.ToJsonString().Trim('"')), "as a string"),
                    1 => (new JsonArray(current.DeepClone()), "wrapped in a list"),
                    _ => (new JsonObject { ["value"] = current.DeepClone() }, "wrapped in an object"),
                };
            }
            case 3:
            {
                // Another node of the document in its place: plausible values in the wrong field.
                var otherPath = _containers[r.Next(_containers.Count)];
                var other = Follow(root, otherPath);
                JsonNode? pick = other switch
                {
                    JsonObject o when o.Count > 0 => o.ElementAt(r.Next(o.Count)).Value,
                    JsonArray a when a.Count > 0 => a[r.Next(a.Count)],
                    _ => null,
                };
                return (pick?.DeepClone(), $"copy of a member of {Describe(otherPath)}");
            }
            default:
            {
                string literal = RandomLiteral(r);
                return (Literal(literal), literal);
            }
        }
    }

    private int MemberContainer(Random r)
    {
        int at = Array.BinarySearch(_cumulativeMembers, r.NextInt64(_cumulativeMembers[^1]) + 1);
        return at >= 0 ? at : ~at;
    }

    private static JsonNode? Follow(JsonNode root, object[] path)
    {
        JsonNode? node = root;
        foreach (object part in path)
            node = part switch
            {
                int i => node is JsonArray a && i < a.Count ? a[i] : null,
                string key => node is JsonObject o ? o[key] : null,
                _ => null,
            };
        return node;
    }

    private static string Describe(object[] path) =>
        path.Length == 0 ? "$" : string.Concat(path.Select(p => p is int i ? $"[{i}]" : $".{Short((string)p)}"));

    private static string Short(string s) => s.Length > 24 ? s[..24] + "…" : s;
}
