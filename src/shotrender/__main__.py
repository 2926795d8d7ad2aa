from shotrender.cli import main

main()
