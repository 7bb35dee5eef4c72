from bordin.cli import main

main()
