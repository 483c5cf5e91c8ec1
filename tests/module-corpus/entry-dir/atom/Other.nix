"not a member"
