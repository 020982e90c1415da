from picfind.cli.main import run

run()
