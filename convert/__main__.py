from convert.cli import run

run()
