"a member named path"
