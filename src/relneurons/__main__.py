from relneurons.cli import main

main()
