"""`python -m deploy.loopback`: the topology of deploy/loopback/topology.py, until Ctrl-C."""

from deploy.loopback.topology import main

raise SystemExit(main())
