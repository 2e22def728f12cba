from borne.cli import main

main()
