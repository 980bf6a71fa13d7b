using System.Runtime.CompilerServices;
using Microsoft.SemanticKernel.Data;
using RetrievalGuard.Guard.Prompting;
using RetrievalGuard.Guard.Risk;

namespace RetrievalGuard.SemanticKernel;

/// <summary>
/// A small in-memory knowledge base ranked by BM25 (k1 1.2, b 0.75), exposed as Semantic Kernel's text search — for
/// demos and tests that must run offline (SK's in-memory vector store is not used: it needs embeddings). Results carry
/// the document id as their name. It implements <see cref="ITextSearch"/>, which SK 1.82 marks obsolete in favour of
/// the still-experimental <c>ITextSearch&lt;TRecord&gt;</c>, because SK 1.82 builds its search plugins
/// (<c>CreateWithGetTextSearchResults</c>) only from the former.
/// </summary>
#pragma warning disable CS0618 // ITextSearch and TextSearchOptions: see above.
public sealed class InMemoryTextSearch : ITextSearch
{
    private const double K1 = 1.2;
    private const double B = 0.75;
    private const int DefaultTop = 3;

    private readonly Passage[] _documents;
    private readonly IReadOnlyList<string>[] _terms;
    private readonly Dictionary<string, int> _documentFrequency = new(StringComparer.Ordinal);
    private readonly double _averageLength;

    public InMemoryTextSearch(IEnumerable<Passage> documents)
    {
        ArgumentNullException.ThrowIfNull(documents);
        _documents = documents.ToArray();
        if (_documents.Length == 0)
            throw new ArgumentException("The knowledge base needs at least one document.", nameof(documents));
        var duplicate = _documents.GroupBy(d => d.Id).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ArgumentException($"Document id '{duplicate.Key}' is used twice.", nameof(documents));
        _terms = _documents.Select(d => Words.Content(d.Text).ToArray()).ToArray<IReadOnlyList<string>>();
        foreach (var term in _terms.SelectMany(t => t.Distinct()))
            _documentFrequency[term] = _documentFrequency.GetValueOrDefault(term) + 1;
        _averageLength = _terms.Average(t => t.Count);
    }

    public int Count => _documents.Length;

    /// <summary>Documents ranked for <paramref name="query"/>, best first, with their BM25 scores (zero-score ones
    /// left out).</summary>
    public IReadOnlyList<(Passage Document, double Score)> Rank(string query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var queryTerms = Words.Content(query).Distinct().ToArray();
        return _documents.Select((document, i) => (document, Score: Score(queryTerms, _terms[i])))
            .Where(r => r.Score > 0)
            .OrderByDescending(r => r.Score)
            .ToArray();
    }

    public Task<KernelSearchResults<string>> SearchAsync(string query, TextSearchOptions? searchOptions = null,
        CancellationToken cancellationToken = default) =>
        Results(query, searchOptions, d => d.Text, cancellationToken);

    public Task<KernelSearchResults<TextSearchResult>> GetTextSearchResultsAsync(string query,
        TextSearchOptions? searchOptions = null, CancellationToken cancellationToken = default) =>
        Results(query, searchOptions, Result, cancellationToken);

    public Task<KernelSearchResults<object>> GetSearchResultsAsync(string query,
        TextSearchOptions? searchOptions = null, CancellationToken cancellationToken = default) =>
        Results(query, searchOptions, d => (object)d, cancellationToken);

    private static TextSearchResult Result(Passage document) => new(document.Text) { Name = document.Id };

    private Task<KernelSearchResults<T>> Results<T>(string query, TextSearchOptions? options, Func<Passage, T> map,
        CancellationToken cancellationToken)
    {
        if (options?.Filter is not null)
            throw new NotSupportedException(
                "The in-memory BM25 search does not filter: leave TextSearchOptions.Filter unset.");
        var ranked = Rank(query);
        var items = ranked.Skip(options?.Skip ?? 0).Take(options?.Top ?? DefaultTop)
            .Select(r => map(r.Document)).ToArray();
        long? total = options?.IncludeTotalCount == true ? ranked.Count : null;
        return Task.FromResult(new KernelSearchResults<T>(Stream(items, cancellationToken), total));
    }

    private static async IAsyncEnumerable<T> Stream<T>(IEnumerable<T> items,
        [EnumeratorCancellation] CancellationToken token)
    {
        foreach (var item in items)
        {
            token.ThrowIfCancellationRequested();
            yield return item;
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }

    private double Score(IReadOnlyList<string> query, IReadOnlyList<string> document)
    {
        var score = 0.0;
        foreach (var term in query)
        {
            var frequency = document.Count(t => t == term);
            if (frequency == 0)
                continue;
            var n = _documentFrequency[term];
            var idf = Math.Log(1 + ((_documents.Length - n + 0.5) / (n + 0.5)));
            score += idf * frequency * (K1 + 1) / (frequency + (K1 * (1 - B + (B * document.Count / _averageLength))));
        }
        return score;
    }
}
#pragma warning restore CS0618
