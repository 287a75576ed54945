from medallion.cli.main import main

main()
