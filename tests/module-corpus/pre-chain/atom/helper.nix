"root helper"
