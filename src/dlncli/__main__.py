from dlncli.cli import app

app(prog_name="dlncli")
