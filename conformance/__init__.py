"""The conformance suite: black-box tests of the public API, run on every engine target."""
