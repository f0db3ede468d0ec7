"""Reference HQ-side tools for the store link: provision streams, tail events, push messages, report sales."""
