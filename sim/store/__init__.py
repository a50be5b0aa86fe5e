"""Store: world files (SQLite), snapshots, the background writer, checks and recovery, imports of edge lists
and world creation. Imports model and core."""
