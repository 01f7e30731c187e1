from hangard.cli import main

main()
