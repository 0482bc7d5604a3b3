import WardenCLI

WardenCommand.entry(Array(CommandLine.arguments.dropFirst()))
