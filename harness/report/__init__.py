"""Reports: traces, HTML, pcaps and ladders built from scenario outcomes."""
