using BenchmarkDotNet.Running;

namespace Daakia.Benchmarks;

/// <summary>Micro-benchmarks of the hot paths: <c>dotnet run -c Release --project bench/Daakia.Benchmarks -- --filter '*'</c>.</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
