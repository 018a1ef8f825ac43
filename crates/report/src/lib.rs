//! Report writers: summary.json, summary.md, junit.xml, memory.svg/png and index.html
