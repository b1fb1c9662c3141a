from labelfree.cli import entry_point

entry_point()
