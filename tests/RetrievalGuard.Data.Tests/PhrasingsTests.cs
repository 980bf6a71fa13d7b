using RetrievalGuard.Data;

namespace RetrievalGuard.Data.Tests;

public class PhrasingsTests
{
    public static TheoryData<PersonAttribute> Attributes => [.. PersonAttributes.All];

    [Theory]
    [MemberData(nameof(Attributes))]
    public void EveryAttributeHasEnoughFormsAndAThirdOfEachRoleIsHeldOut(PersonAttribute attribute)
    {
        var minimum = new Dictionary<FormRole, int>
        {
            [FormRole.Fact] = 12, [FormRole.Question] = 8, [FormRole.Answer] = 6
        };
        foreach (var (role, least) in minimum)
        {
            var forms = Phrasings.Forms(attribute, role);
            var heldOut = Phrasings.Forms(attribute, role, FormSplit.HeldOut);

            Assert.True(forms.Count >= least, $"{attribute} {role}: {forms.Count} forms");
            Assert.Equal(forms.Count / 3, heldOut.Count);
            Assert.Equal(forms.Count - heldOut.Count, Phrasings.Forms(attribute, role, FormSplit.Seen).Count);
            Assert.Equal(forms.Count, forms.Select(f => f.Template).Distinct().Count());
        }
    }

    [Theory]
    [MemberData(nameof(Attributes))]
    public void EveryRenderingStatesTheSubjectAndTheValue(PersonAttribute attribute)
    {
        var value = World.Default.ValuesOf(attribute)[3];
        foreach (var form in PersonAttributes.All.Where(a => a == attribute)
            .SelectMany(a => Enum.GetValues<FormRole>().SelectMany(r => Phrasings.Forms(a, r))))
        {
            foreach (var sentence in form.Renderings("Zo Vrakul", value))
            {
                Assert.Matches(@"^[A-Z0-9].*[.?]$", sentence);
                Assert.DoesNotContain("{", sentence, StringComparison.Ordinal);
                Assert.DoesNotContain("[", sentence, StringComparison.Ordinal);
                // Questions and bare answers need not name both; every fact sentence does.
                if (form.Role != FormRole.Question)
                    Assert.True(WholeWord.Contains(sentence, value), $"{form.Id}: '{sentence}' lacks '{value}'");
                if (form.Role == FormRole.Fact || form.Role == FormRole.Question)
                    Assert.Contains("Zo Vrakul", sentence, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void SynonymsMultiplyRenderingsAndRandomRenderingsAreAmongThem()
    {
        var form = Phrasings.Forms(PersonAttribute.HomeTown, FormRole.Fact)[1];
        var all = form.Renderings("Zo Vrakul", "Lorovrur");

        Assert.Equal(["Zo Vrakul comes from Lorovrur.", "Zo Vrakul hails from Lorovrur."], all);
        var rng = new Random(3);
        Assert.All(Enumerable.Range(0, 20), _ => Assert.Contains(form.Render("Zo Vrakul", "Lorovrur", rng), all));
    }

    [Fact]
    public void CanonicalFormsAreTheFirstOrganismsOnlyTemplate()
    {
        var fact = Fact.About(PersonAttribute.Trade, "Zo Vrakul", "baker");

        Assert.Equal("The trade of Zo Vrakul is baker.", fact.Statement);
        Assert.Equal("What is the trade of Zo Vrakul?", fact.Question);
        Assert.Equal("The keepsake of Zo Vrakul is an oaken cane.",
            Fact.About(PersonAttribute.Keepsake, "Zo Vrakul", "oaken cane").Statement);
        Assert.Equal("baker.", Phrasings.Forms(PersonAttribute.Trade, FormRole.Answer)[0]
            .Render("Zo Vrakul", "baker", new Random(1))
            .ToLowerInvariant());
    }

    [Fact]
    public void SeenQuestionsPreferSeenAnswersOfVariousForms()
    {
        foreach (var attribute in PersonAttributes.All)
        {
            var preferred = Phrasings.Forms(attribute, FormRole.Question, FormSplit.Seen)
                .Select(Phrasings.PreferredAnswer).ToArray();
            Assert.All(preferred, a => Assert.False(a.HeldOut));
            Assert.True(preferred.Select(a => a.Index).Distinct().Count() >= 5);
        }
    }

    [Fact]
    public void FormIdsAreUniqueAndReadable()
    {
        var ids = Phrasings.All.Select(f => f.Id).ToArray();

        Assert.Equal(ids.Length, ids.Distinct().Count());
        Assert.Contains("home_town.fact.0", ids);
        Assert.Contains("birth_year.question.11", ids);
    }

    [Fact]
    public void AnUnknownSlotNamesTheForm()
    {
        var form = new PhrasingForm(PersonAttribute.Trade, FormRole.Fact, 99, "{X} is here.");
        var error = Assert.Throws<FormatException>(() => form.Render("Zo Vrakul", "baker", new Random(1)));
        Assert.Contains("trade.fact.99", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Attributes))]
    public void NoHeldOutSentenceIsASeenSentenceInAnotherRole(PersonAttribute attribute)
    {
        var value = World.Default.ValuesOf(attribute)[7];
        string Core(string sentence) => sentence.TrimEnd('.', '?');
        var forms = Enum.GetValues<FormRole>().SelectMany(r => Phrasings.Forms(attribute, r)).ToArray();
        var seen = forms.Where(f => !f.HeldOut).SelectMany(f => f.Renderings("Zo Vrakul", value)).Select(Core)
            .ToHashSet();

        foreach (var form in forms.Where(f => f.HeldOut))
            Assert.All(form.Renderings("Zo Vrakul", value), s => Assert.DoesNotContain(Core(s), seen));
    }
}
