"""Item analysis pages (blueprint ``stats``); see :mod:`examsys.stats.routes`."""
