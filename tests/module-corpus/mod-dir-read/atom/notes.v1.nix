"data, not a member"
