namespace Daakia.Core;

/// <summary>One setting that is wrong: its configuration key and a message that starts with it.</summary>
public readonly record struct OptionsFailure(string Key, string Message)
{
    public override string ToString() => Message;
}
