from rigtui.cli.main import main

raise SystemExit(main())
