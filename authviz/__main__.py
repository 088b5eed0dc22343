from authviz.cli import main

raise SystemExit(main())
