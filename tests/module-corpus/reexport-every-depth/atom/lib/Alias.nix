mod.text
