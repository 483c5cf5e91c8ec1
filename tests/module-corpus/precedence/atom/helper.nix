"file helper"
