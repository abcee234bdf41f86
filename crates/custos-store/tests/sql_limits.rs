//! No statement takes its `LIMIT` straight from a bound parameter: SQLite recompiles such a
//! statement every time it is bound again (see the header of `src/sql.rs`). Written as
//! `LIMIT CAST($n AS BIGINT)` the cached statement is reused.

use std::path::Path;

fn bare_bound_limits(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("LIMIT ") {
            rest = &rest[at + "LIMIT ".len()..];
            if rest.starts_with('$') || rest.starts_with('?') || rest.starts_with("\", $") {
                found.push(format!("line {}: {}", n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_check_sees_a_bare_bound_limit_and_passes_a_cast_one() {
    assert_eq!(bare_bound_limits("\"SELECT x FROM t ORDER BY y LIMIT $2\"").len(), 1);
    assert_eq!(bare_bound_limits("\"ORDER BY at DESC LIMIT \", $limit,").len(), 1);
    assert!(bare_bound_limits("\"SELECT x FROM t LIMIT CAST($2 AS BIGINT)\"").is_empty());
    assert!(bare_bound_limits("\"SELECT x FROM t ORDER BY y DESC LIMIT 1\"").is_empty());
}

#[test]
fn no_statement_takes_its_limit_from_a_bare_parameter() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&src).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            files += 1;
            let text = std::fs::read_to_string(&path).expect("a source file is readable");
            for hit in bare_bound_limits(&text) {
                offenders.push(format!("{}: {hit}", path.display()));
            }
        }
    }
    assert!(files > 10, "read only {files} source files from {}", src.display());
    assert!(offenders.is_empty(), "write LIMIT CAST($n AS BIGINT) instead:\n{}", offenders.join("\n"));
}
