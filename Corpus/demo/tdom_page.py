# Python 3.14 in the sandbox: a t-string page rendered by the real tdom, with a value a
# visitor typed (escaped, not run), and the markup written to /output for the caller.
from tdom import html


def Greeting(*, who: str):
    return t"<p class='greeting'>Hello {who}</p>"


visitor = "<script>alert('owned')</script>"
page = html(t"<main><h1>Welcome</h1><{Greeting} who={visitor} /></main>")
open("/output/page.html", "w").write(str(page))
str(page)
