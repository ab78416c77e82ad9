use std::io::Cursor;

use super::*;

/// `text` cut into its head and its batches, each as text.
fn cut(text: &str) -> (String, Vec<String>) {
    let outline = outline(Cursor::new(text)).unwrap();
    let batches = outline
        .batches
        .iter()
        .map(|batch| batch.read(&mut Cursor::new(text)).unwrap().text)
        .collect();
    (outline.head.text, batches)
}

#[test]
fn namespace_tables_go_to_the_head_and_services_to_a_batch() {
    let text = "\
# a zone
[namespace]
name = \"a\"

[[services]]
name = \"web\"
[[services.instances]]
id = \"web-1\"
[namespace.soa]
ttl = 5
[services.tags]
team = \"x\"
";
    let (head, batches) = cut(text);
    assert_eq!(
        head,
        "# a zone\n[namespace]\nname = \"a\"\n\n[namespace.soa]\nttl = 5\n"
    );
    // A `[services.…]` table belongs to the last `[[services]]` even after
    // a namespace table.
    assert_eq!(
        batches,
        [
            "[[services]]\nname = \"web\"\n[[services.instances]]\nid = \"web-1\"\n[services.tags]\nteam = \"x\"\n"
        ]
    );
}

#[test]
fn a_header_inside_a_string_or_an_array_is_not_a_table() {
    let text = "\
[namespace]
description = \"\"\"
[[services]]
name = 'not a service'\"\"\"
allowed_networks = [
[\"services\"], '''
[[services]]''',
]
[[services]]
name = \"web\"
description = '''
[namespace]
'''
records = [
  { type = \"A\", ttl = 1 },
# [[services]]
]
";
    let (head, batches) = cut(text);
    assert!(
        head.starts_with("[namespace]\n") && head.ends_with("]\n"),
        "{head}"
    );
    assert_eq!(batches.len(), 1);
    assert!(batches[0].starts_with("[[services]]\nname = \"web\""));
    assert!(batches[0].ends_with("# [[services]]\n]\n"));
    assert_eq!(head.len() + batches[0].len(), text.len());
}

#[test]
fn quoted_keys_are_the_same_as_bare_ones() {
    for header in [
        "[[\"services\"]]",
        "[['services']]",
        "[[ services ]]",
        "[[\"serv\\u0069ces\"]]",
    ] {
        assert_eq!(super::header(header), Some(Header::Service), "{header}");
    }
    for header in [
        "[[\"services\".instances]]",
        "[services . 'instances']",
        "[services]",
    ] {
        assert_eq!(
            super::header(header),
            Some(Header::UnderServices),
            "{header}"
        );
    }
    for header in [
        "[[\"services.instances\"]]",
        "[namespace]",
        "[[servicesx]]",
        "[[]]",
    ] {
        assert_eq!(super::header(header), Some(Header::Other), "{header}");
    }
    for statement in ["name = \"[[services]]\"", "# [[services]]", "  \n"] {
        assert_eq!(super::header(statement), None, "{statement}");
    }
}

#[test]
fn a_services_table_before_any_service_goes_to_the_head() {
    // So the head's parser reports it, as it would in the whole file.
    let (head, batches) = cut("[services.tags]\na = \"b\"\n[[services]]\nname = \"web\"\n");
    assert_eq!(head, "[services.tags]\na = \"b\"\n");
    assert_eq!(batches, ["[[services]]\nname = \"web\"\n"]);
}

#[test]
fn a_large_file_is_cut_into_batches_at_services() {
    let service = "[[services]]\nname = \"s\"\n[[services.instances]]\nid = \"i\"\n";
    let count = BATCH_BYTES / service.len() * 3;
    let text = format!("[namespace]\n{}", service.repeat(count));
    let outline = outline(Cursor::new(&text)).unwrap();
    assert!(outline.batches.len() >= 3, "{}", outline.batches.len());
    let mut services = 0;
    for batch in &outline.batches {
        let read = batch.read(&mut Cursor::new(&text)).unwrap().text;
        assert!(read.starts_with("[[services]]\n") && read.len() < BATCH_BYTES + 2 * service.len());
        assert_eq!(read.matches("[[services]]").count(), batch.services);
        services += batch.services;
    }
    assert_eq!(services, count);
}

#[test]
fn line_endings_and_a_byte_order_mark_are_kept() {
    let text = "\u{feff}[namespace]\r\nname = \"a\"\r\n[[services]]\r\nname = \"web\"";
    let (head, batches) = cut(text);
    assert_eq!(head, "\u{feff}[namespace]\r\nname = \"a\"\r\n");
    assert_eq!(batches, ["[[services]]\r\nname = \"web\""]);
}

#[test]
fn an_unclosed_string_or_array_runs_to_the_end_of_the_file() {
    let (head, batches) = cut("[namespace]\nname = \"\"\"\n[[services]]\nname = \"web\"\n");
    assert_eq!(batches.len(), 0);
    assert!(head.ends_with("name = \"web\"\n"));
    let (_, batches) = cut("[[services]]\nrecords = [\n[[services]]\nname = \"web\"\n");
    assert_eq!(batches.len(), 1);
}

#[test]
fn a_batch_that_reads_differently_is_an_error() {
    let text = "[namespace]\n[[services]]\nname = \"web\"\n";
    let outline = outline(Cursor::new(text)).unwrap();
    let changed = text.replace("web", "www");
    let error = outline.batches[0]
        .read(&mut Cursor::new(changed))
        .unwrap_err();
    assert!(error.to_string().contains("changed"), "{error}");
    let shorter = outline.batches[0]
        .read(&mut Cursor::new("[namespace]\n"))
        .unwrap_err();
    assert!(shorter.to_string().contains("changed"), "{shorter}");
}

#[test]
fn an_error_names_the_line_of_the_file() {
    let text = "[namespace]\nname = \"a\"\n\n[[services]]\nname = \"web\"\n[namespace.soa]\n\n[services.tags]\nteam = 5\nbad\n";
    let outline = outline(Cursor::new(text)).unwrap();
    let document = outline.batches[0].read(&mut Cursor::new(text)).unwrap();
    let error = toml::from_str::<toml::Table>(&document.text).unwrap_err();
    let whole = toml::from_str::<toml::Table>(text).unwrap_err();
    assert_eq!(document.explain(&error), whole.to_string());
    assert!(whole.to_string().contains("line 10, column 4"), "{whole}");
}

#[test]
fn an_error_at_the_end_of_the_file_is_explained() {
    for text in ["[namespace]\nname = 'é", "[[services]]\nname = 'é"] {
        let outline = outline(Cursor::new(text)).unwrap();
        let document = match outline.batches.first() {
            Some(batch) => batch.read(&mut Cursor::new(text)).unwrap(),
            None => outline.head,
        };
        let error = toml::from_str::<toml::Table>(&document.text).unwrap_err();
        assert!(document.explain(&error).contains("line 2"), "{text}");
    }
}
