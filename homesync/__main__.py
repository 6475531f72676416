from homesync.cli import main

main()
