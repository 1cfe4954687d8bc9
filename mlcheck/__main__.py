from mlcheck.cli import main

main()
