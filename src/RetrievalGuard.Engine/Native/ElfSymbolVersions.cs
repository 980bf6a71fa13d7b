using System.Buffers.Binary;
using System.Text;

namespace RetrievalGuard.Engine.Native;

/// <summary>
/// One entry of an ELF shared object's <c>.gnu.version_r</c>: "this file needs version X of library Y".
/// </summary>
public sealed record ElfVersionNeed(string Library, string Version, ushort Flags, long FlagsOffset)
{
    /// <summary>VER_FLG_WEAK: the dynamic loader tolerates the version being absent.</summary>
    public const ushort WeakFlag = 0x2;
    public bool IsWeak => (Flags & WeakFlag) != 0;
}

/// <summary>
/// Reads and edits GNU symbol-version sections of ELF64 little-endian shared objects. Just enough
/// ELF to answer "which library versions does this .so need" and "which does that .so define", and
/// to mark a need weak in a copy — the fix for TorchSharp's libLibTorchSharp.so on older libstdc++.
/// </summary>
public static class ElfSymbolVersions
{
    private const uint ShtGnuVerdef = 0x6ffffffd;
    private const uint ShtGnuVerneed = 0x6ffffffe;

    public static IReadOnlyList<ElfVersionNeed> ReadNeeds(string path)
    {
        var elf = ElfImage.Load(path);
        var needs = new List<ElfVersionNeed>();
        foreach (var section in elf.Sections.Where(s => s.Type == ShtGnuVerneed))
        {
            var strings = elf.Sections[(int)section.Link];
            long entry = section.Offset;
            for (int i = 0; i < (int)section.Info; i++)
            {
                ushort auxCount = elf.U16(entry + 2);
                string library = elf.String(strings, elf.U32(entry + 4));
                long aux = entry + elf.U32(entry + 8);
                for (int j = 0; j < auxCount; j++)
                {
                    ushort flags = elf.U16(aux + 4);
                    needs.Add(new ElfVersionNeed(library, elf.String(strings, elf.U32(aux + 8)), flags, aux + 4));
                    uint nextAux = elf.U32(aux + 12);
                    if (nextAux == 0) break;
                    aux += nextAux;
                }
                uint next = elf.U32(entry + 12);
                if (next == 0) break;
                entry += next;
            }
        }
        return needs;
    }

    /// <summary>The version names a shared object defines (e.g. GLIBCXX_3.4.30 for Debian 12's libstdc++).</summary>
    public static IReadOnlySet<string> ReadDefinitions(string path)
    {
        var elf = ElfImage.Load(path);
        var defined = new HashSet<string>(StringComparer.Ordinal);
        foreach (var section in elf.Sections.Where(s => s.Type == ShtGnuVerdef))
        {
            var strings = elf.Sections[(int)section.Link];
            long entry = section.Offset;
            for (int i = 0; i < (int)section.Info; i++)
            {
                long aux = entry + elf.U32(entry + 12);
                defined.Add(elf.String(strings, elf.U32(aux)));
                uint next = elf.U32(entry + 16);
                if (next == 0) break;
                entry += next;
            }
        }
        return defined;
    }

    /// <summary>
    /// Copies <paramref name="source"/> to <paramref name="destination"/> with the named version needs
    /// marked weak. Every other byte is unchanged. Throws if a named version is not needed at all.
    /// </summary>
    public static void WriteCopyWithWeakNeeds(string source, string destination, IReadOnlyCollection<string> versions)
    {
        var needs = ReadNeeds(source);
        byte[] bytes = File.ReadAllBytes(source);
        foreach (string version in versions)
        {
            var matches = needs.Where(n => n.Version == version).ToList();
            if (matches.Count == 0)
                throw new InvalidDataException(
                    $"{source}: it does not need symbol version {version}, so there is nothing to mark weak.");
            foreach (var need in matches)
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan((int)need.FlagsOffset),
                    (ushort)(need.Flags | ElfVersionNeed.WeakFlag));
        }
        string temp = destination + "." + Environment.ProcessId + ".tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, destination, overwrite: true);
    }

    private sealed record Section(uint Type, long Offset, long Size, uint Link, uint Info);

    /// <summary>The whole file in memory: shared objects of interest here are a few MB at most.</summary>
    private sealed class ElfImage
    {
        private readonly byte[] _bytes;
        private readonly string _path;
        public List<Section> Sections { get; } = new();

        private ElfImage(string path, byte[] bytes) { _path = path; _bytes = bytes; }

        public static ElfImage Load(string path)
        {
            byte[] bytes;
            try { bytes = File.ReadAllBytes(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            { throw new InvalidDataException($"{path}: cannot be read as an ELF file: {e.Message}", e); }
            var elf = new ElfImage(path, bytes);
            if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L'
                || bytes[3] != (byte)'F')
                throw new InvalidDataException($"{path}: not an ELF file.");
            if (bytes[4] != 2 || bytes[5] != 1)
                throw new InvalidDataException($"{path}: only 64-bit little-endian ELF is supported.");
            long shoff = (long)elf.U64(0x28);
            ushort shentsize = elf.U16(0x3a), shnum = elf.U16(0x3c);
            if (shentsize < 64 || shoff <= 0 || shoff + (long)shentsize * shnum > bytes.Length)
                throw new InvalidDataException($"{path}: section header table lies outside the file.");
            for (int i = 0; i < shnum; i++)
            {
                long h = shoff + (long)i * shentsize;
                var s = new Section(elf.U32(h + 4), (long)elf.U64(h + 0x18), (long)elf.U64(h + 0x20),
                    elf.U32(h + 0x28), elf.U32(h + 0x2c));
                if (s.Type is ShtGnuVerdef or ShtGnuVerneed
                    && (s.Offset < 0 || s.Offset + s.Size > bytes.Length || s.Link >= shnum))
                    throw new InvalidDataException($"{path}: version section {i} lies outside the file.");
                elf.Sections.Add(s);
            }
            return elf;
        }

        private void Check(long offset, int size)
        {
            if (offset < 0 || offset + size > _bytes.Length)
                throw new InvalidDataException(
                    $"{_path}: truncated or corrupt ELF (offset {offset} outside the file).");
        }

        public ushort U16(long o)
        {
            Check(o, 2);
            return BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan((int)o));
        }
        public uint U32(long o) { Check(o, 4); return BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan((int)o)); }
        public ulong U64(long o) { Check(o, 8); return BinaryPrimitives.ReadUInt64LittleEndian(_bytes.AsSpan((int)o)); }

        public string String(Section table, uint index)
        {
            long start = table.Offset + index;
            Check(start, 1);
            int end = Array.IndexOf(_bytes, (byte)0, (int)start);
            if (end < 0) throw new InvalidDataException($"{_path}: unterminated string in the string table.");
            return Encoding.ASCII.GetString(_bytes, (int)start, end - (int)start);
        }
    }
}
