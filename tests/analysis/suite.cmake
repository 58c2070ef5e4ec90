# The analysis stage (analysis/csweep_analysis, Debian's /usr/bin/python3 with pandas,
# matplotlib, matplotlib-venn, upsetplot; xarray + h5netcdf to read results back):
#   analysis.unit  set algebra, circuits files, figures read back (tests/unit/analysis)
#   analysis.e2e   csweep run -> csweep analyze --figures / csweep export on the default model,
#                  every output checked against the HDF5 file read with h5py; the file opens in
#                  xarray + h5netcdf with named dimensions (check_netcdf.py); a circuits sweep
#                  (jobs/analysis_circuits.toml) whose trajectory, survival, size, edge and
#                  faithfulness figures are compared with its rows
add_test(NAME analysis.unit
         COMMAND /usr/bin/python3 -m unittest discover -s ${PROJECT_SOURCE_DIR}/tests/unit/analysis
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
# Most of the unit time is matplotlib writing PDFs and PNGs (about 2 min on a shared 2-core box).
set_tests_properties(analysis.unit PROPERTIES LABELS analysis TIMEOUT 300
  ENVIRONMENT "PYTHONPATH=${PROJECT_SOURCE_DIR}/analysis:${PROJECT_SOURCE_DIR}/tests/unit/analysis;MPLBACKEND=Agg")
if(TARGET csweep)
  add_test(NAME analysis.e2e
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_analyze.py
                   $<TARGET_FILE:csweep> ${CMAKE_CURRENT_BINARY_DIR}/analysis_e2e)
  # two sweeps (effects; circuits: pruning, edges, faithfulness) and three analyses, about
  # 2.5 min on a shared 2-core box
  set_tests_properties(analysis.e2e PROPERTIES LABELS "analysis;cli" TIMEOUT 600
    ENVIRONMENT "MPLBACKEND=Agg")
endif()
