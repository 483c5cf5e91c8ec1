{
  # Public: exported as `english`.
  English = "Hello";
  French = "Bonjour";
  # Private: visible to this module only.
  punctuation = "!";
}
