# Runs at boot on the fixture. Any way out of the application (an error, Ctrl-C from mpremote)
# leaves every relay open and every source off: app.main() sees to it.
import app

app.main()
