from mlcheck.entry import main

main()
