"""circuitsweep's analysis stage: results files (and circuits from other tools) to the paper's
set algebra, tables and figures. Entry point: `csweep analyze` / `csweep export`
(python3 -m csweep_analysis); README.md and docs/ANALYSIS.md describe the outputs."""
