//! Unit tests of the registry's pure parts. Its rules — validation, state,
//! discovery — are tested through the write front, in `writer/tests/`.

mod stored;
