from fsl.cli.main import main

if __name__ == "__main__":  # not when a spawned process (the delivery process) imports it
    main()
