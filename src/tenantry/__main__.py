from tenantry.cli.main import main

main()
