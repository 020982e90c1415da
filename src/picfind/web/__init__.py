"""`picfind serve`: the local web page and its JSON API over `picfind.Library`."""
