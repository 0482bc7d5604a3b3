import Admin

AdminCommand.entry(Array(CommandLine.arguments.dropFirst()))
