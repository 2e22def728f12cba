from borne.entry import main

main()
