"""What the demo scenes draw: the 2019 category and attribute ids they use, the lines hems and trouser legs follow
(:data:`HEM_LINES`, :data:`ANKLE_WIDTHS`), and each category's colour and texture (:data:`STYLE`)."""

# category ids of the 2019 label file
SHIRT, TOP, SWEATER, JACKET, PANTS, SHORTS, SKIRT, COAT, DRESS = 0, 1, 2, 4, 6, 7, 8, 9, 10
GLASSES, HAT, BELT, SHOE, BAG = 13, 14, 19, 23, 24
COLLAR, LAPEL, SLEEVE, POCKET, NECKLINE, ZIPPER = 28, 29, 31, 32, 33, 35
# attribute ids of the 2019 label file: length, opening type, silhouette
MINI, KNEE, MAXI, ZIP_UP, ASYMMETRICAL, SYMMETRICAL, STRAIGHT, WIDE_LEG = 3, 5, 8, 14, 19, 20, 33, 37

#: the line a hem of each length is drawn at, as a fraction of the figure's height below its top (the knee is at
#: 0.73, the ankle at 0.93)
HEM_LINES = {MINI: 0.64, KNEE: 0.73, MAXI: 0.93}
#: width of one trouser leg at the ankle, as a fraction of the figure's width (the skin leg is 0.10 there)
ANKLE_WIDTHS = {STRAIGHT: 0.15, WIDE_LEG: 0.30}

#: colour (RGB) and texture of every category drawn; textures: plain, vstripes, hstripes, diagonal, checks, dots
STYLE = {
    SHIRT: ((170, 200, 235), "checks"),
    TOP: ((240, 210, 60), "plain"),
    SWEATER: ((60, 150, 80), "hstripes"),
    JACKET: ((130, 85, 50), "diagonal"),
    PANTS: ((40, 55, 120), "vstripes"),
    SHORTS: ((190, 170, 120), "plain"),
    SKIRT: ((130, 60, 150), "dots"),
    COAT: ((120, 120, 125), "diagonal"),
    DRESS: ((200, 40, 50), "dots"),
    GLASSES: ((20, 20, 20), "plain"),
    HAT: ((30, 90, 60), "plain"),
    BELT: ((25, 20, 15), "plain"),
    SHOE: ((15, 15, 15), "plain"),
    BAG: ((230, 120, 30), "hstripes"),
    COLLAR: ((245, 245, 245), "plain"),
    LAPEL: ((90, 55, 30), "plain"),
    POCKET: ((0, 0, 0), "shade"),
    NECKLINE: ((0, 0, 0), "shade"),
    ZIPPER: ((200, 200, 210), "hstripes"),
    SLEEVE: ((0, 0, 0), "shade"),
}
SKIN = (225, 185, 150)
