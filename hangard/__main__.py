from hangard.entry import main

main()
