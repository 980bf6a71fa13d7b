namespace RetrievalGuard.Engine.Tests.Support;

/// <summary>Byte-level BPE vocabularies for tokenizer tests.</summary>
public static class ByteLevel
{
    /// <summary>GPT-2's byte-to-unicode table: the symbol each byte is written as in a byte-level vocabulary.</summary>
    public static string[] Symbols()
    {
        var printable = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1))
            .Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToHashSet();
        var result = new string[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
            result[b] = ((char)(printable.Contains(b) ? b : 256 + extra++)).ToString();
        return result;
    }
}
