using Xunit.Abstractions;
using Xunit.Sdk;

namespace Lockstep.Tests.Support;

/// <summary>
/// A SQL-level test class that also runs in the Citus pass (<c>./lockstep test</c> runs the classes with
/// the trait <c>Cluster=Citus</c> again on a coordinator and two workers), with the same assertions.
/// </summary>
[TraitDiscoverer("Lockstep.Tests.Support.RunsOnCitusDiscoverer", "Lockstep.Tests")]
[AttributeUsage(AttributeTargets.Class)]
public sealed class RunsOnCitusAttribute : Attribute, ITraitAttribute;

public sealed class RunsOnCitusDiscoverer : ITraitDiscoverer
{
    public IEnumerable<KeyValuePair<string, string>> GetTraits(IAttributeInfo traitAttribute) => [new("Cluster", "Citus")];
}
