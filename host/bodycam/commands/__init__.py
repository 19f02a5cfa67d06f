"""One module per `bodycam` subcommand. Each defines NAME, HELP,
add_arguments(parser) and run(args) -> exit status; cli.py finds them."""

# Order in `bodycam --help`: the main job first.
ORDER = ("demo", "sim", "boards", "plan", "flash", "deploy", "doctor", "info", "ls", "pull", "station", "hold", "check",
         "verify", "report")
